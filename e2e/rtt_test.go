package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hbd-project/hbd/transport/wire"
)

// heartbeatRTT sends a heartbeat reporting rtt as the agent's last round trip.
func (s *sender) heartbeatRTT(interval time.Duration, connSeq uint32, rtt time.Duration) {
	s.t.Helper()
	b, err := wire.AppendHeartbeat(nil, s.sg, s.env(), wire.Heartbeat{IntervalMS: uint32(interval.Milliseconds()), ConnSeq: connSeq, RTTMicros: uint32(rtt.Microseconds())})
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(b)
}

// rttAnswer is GET /api/0/hosts/{h}/rtt.
type rttAnswer struct {
	Host     string `json:"host"`
	Window   int    `json:"window"`
	Families []struct {
		Family  string        `json:"family"`
		Address string        `json:"address"`
		P50     *float64      `json:"p50_ms"`
		P95     *float64      `json:"p95_ms"`
		P99     *float64      `json:"p99_ms"`
		Count   int           `json:"count"`
		History [][2]*float64 `json:"history"`
	} `json:"families"`
}

// RTT distributions end to end: heartbeats over real UDP from an IPv4 and
// an IPv6 address make per-family quantiles in the host entry and a
// history with gaps in /rtt; a real agent's heartbeats fill both families'
// windows; /live shows both families' p50/p99 side by side and flags the
// one that is much slower.
func TestRTTDistributions(t *testing.T) {
	d := startDaemon(t, "")
	// slow01: IPv6 is 20 ms, IPv4 1 ms, and IPv6 lost two heartbeats.
	// even01: 1 ms and 1.5 ms, not worth a flag.
	slow4, slow6 := newSender(t, d, "slow01", d.key, false), newSender(t, d, "slow01", d.key, true)
	even4, even6 := newSender(t, d, "even01", d.key, false), newSender(t, d, "even01", d.key, true)
	// Each its own sender instance, with its own replay window, as an
	// agent's per-address sockets are not, but as their sequence numbers
	// (each sender starts at its own clock reading) need.
	for i, s := range []*sender{slow4, slow6, even4, even6} {
		s.instance = uint64(i + 1)
	}
	// The first heartbeats register the hosts. A new host's first
	// datagrams go through the registry, and one of the next may overtake
	// them once the host is known; the window keeps what comes in order,
	// so the rest are sent once both hosts are registered.
	send := func(seq uint32) {
		slow4.heartbeatRTT(time.Minute, seq, time.Millisecond)
		if seq != 4 && seq != 5 {
			slow6.heartbeatRTT(time.Minute, seq, 20*time.Millisecond)
		}
		even4.heartbeatRTT(time.Minute, seq, time.Millisecond)
		even6.heartbeatRTT(time.Minute, seq, 1500*time.Microsecond)
	}
	send(1)
	for _, h := range []string{"slow01", "even01"} {
		waitFor(t, 20*time.Second, h+"'s first heartbeats", func() bool {
			var v rttAnswer
			if st, _ := get(t, d.http+"/api/0/hosts/"+h+"/rtt"); st != 200 {
				return false
			}
			getJSON(t, d.http+"/api/0/hosts/"+h+"/rtt", &v)
			return len(v.Families) == 2 && v.Families[0].Count == 1 && v.Families[1].Count == 1
		})
	}
	for seq := uint32(2); seq <= 7; seq++ {
		send(seq)
	}
	var v rttAnswer
	waitFor(t, 20*time.Second, "slow01's heartbeats in its windows", func() bool {
		if st, _ := get(t, d.http+"/api/0/hosts/slow01/rtt"); st != 200 {
			return false
		}
		getJSON(t, d.http+"/api/0/hosts/slow01/rtt", &v)
		return len(v.Families) == 2 && v.Families[0].Count == 7 && v.Families[1].Count == 5
	})
	if v.Host != "slow01" || v.Window < 32 {
		t.Errorf("host %q window %d", v.Host, v.Window)
	}
	v4, v6 := v.Families[0], v.Families[1]
	if v4.Family != "ipv4" || !strings.HasPrefix(v4.Address, "127.0.0.1:") || v6.Family != "ipv6" || !strings.HasPrefix(v6.Address, "[::1]:") {
		t.Fatalf("families %s %s, %s %s", v4.Family, v4.Address, v6.Family, v6.Address)
	}
	for _, c := range []struct {
		name string
		q    [3]*float64
		want float64
	}{{"ipv4", [3]*float64{v4.P50, v4.P95, v4.P99}, 1}, {"ipv6", [3]*float64{v6.P50, v6.P95, v6.P99}, 20}} {
		for i, q := range c.q {
			if q == nil || *q != c.want {
				t.Errorf("%s quantile %d = %v, want %v", c.name, i, q, c.want)
			}
		}
	}
	var hist []string
	for _, p := range v6.History {
		if p[0] == nil || time.Since(time.Unix(int64(*p[0]), 0)) > time.Minute {
			t.Errorf("history entry %v: want a time of about now", p)
		}
		if p[1] == nil {
			hist = append(hist, "null")
		} else {
			hist = append(hist, fmt.Sprint(*p[1]))
		}
	}
	if got := strings.Join(hist, " "); got != "20 20 20 null null 20 20" {
		t.Errorf("ipv6 history %q, want the two lost heartbeats as nulls", got)
	}

	// The host entry comes from the fleet index, published a moment later.
	waitFor(t, 20*time.Second, "slow01's entry with both families' quantiles", func() bool {
		h, ok := d.host(t, "slow01")
		return ok && len(h.Connections) == 2 && h.Connections[0].P99 != nil && h.Connections[1].P99 != nil && *h.Connections[1].P99 == 20
	})
	h, _ := d.host(t, "slow01")
	if c := h.Connections[0]; c.P50 == nil || *c.P50 != 1 || c.P95 == nil || *c.P95 != 1 {
		t.Errorf("slow01's ipv4 entry: p50 %v p95 %v, want 1 ms", c.P50, c.P95)
	}
	if c := h.Connections[1]; c.P50 == nil || *c.P50 != 20 || c.P95 == nil || *c.P95 != 20 {
		t.Errorf("slow01's ipv6 entry: p50 %v p95 %v, want 20 ms", c.P50, c.P95)
	}
	if st, body := get(t, d.http+"/api/0/hosts/nosuch/rtt"); st != 404 || !strings.Contains(string(body), `"error":"Host 'nosuch' not found"`) {
		t.Errorf("unknown host: %d %s", st, body)
	}

	// A real agent on both families: its acknowledged heartbeats fill both windows.
	startAgent(t, d, "agent01", "")
	waitFor(t, 30*time.Second, "agent01's RTTs on both families", func() bool {
		st, _ := get(t, d.http+"/api/0/hosts/agent01/rtt")
		if st != 200 {
			return false
		}
		var a rttAnswer
		getJSON(t, d.http+"/api/0/hosts/agent01/rtt", &a)
		return len(a.Families) == 2 && a.Families[0].Count >= 2 && a.Families[1].Count >= 2 &&
			a.Families[0].P50 != nil && *a.Families[0].P50 > 0 && a.Families[1].P99 != nil && *a.Families[1].P99 < 1000
	})

	t.Run("live", func(t *testing.T) {
		ctx, errs := browser(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/live")); err != nil {
			t.Fatal(err)
		}
		row := func(host string) string {
			return `document.querySelector('#hosts-table .vrow[data-host="` + host + `"]')`
		}
		waitJS(t, ctx, "slow01 flagged: IPv6 much slower", `!!`+row("slow01")+` && `+row("slow01")+`.dataset.rttWorse === 'ipv6'`)
		cell := func(host, fam string) string { return row(host) + `.querySelector('[data-family="` + fam + `"]')` }
		for _, c := range []struct{ host, fam, text string }{
			{"slow01", "ipv4", "1 / 1 ms"}, {"slow01", "ipv6", "20 / 20 ms"},
			{"even01", "ipv4", "1 / 1 ms"}, {"even01", "ipv6", "1.5 / 1.5 ms"},
		} {
			if got := jsString(t, ctx, cell(c.host, c.fam)+`.querySelector('.rtt').textContent`); got != c.text {
				t.Errorf("%s %s RTT cell %q, want %q (p50 / p99)", c.host, c.fam, got, c.text)
			}
		}
		// The marker is on IPv6 only, visible, and says why.
		flag := cell("slow01", "ipv6") + `.querySelector('.rtt-flag')`
		if vis := jsString(t, ctx, `(() => { const f = `+flag+`; return f ? getComputedStyle(f).display + ' ' + f.getBoundingClientRect().width : 'none'; })()`); strings.HasPrefix(vis, "none") || strings.HasSuffix(vis, " 0") {
			t.Errorf("the IPv6 marker is not visible: %s", vis)
		}
		if tip := jsString(t, ctx, flag+`.title`); !strings.Contains(tip, "IPv6 is much slower than IPv4") || !strings.Contains(tip, "median RTT 20 ms vs 1 ms") {
			t.Errorf("marker tooltip %q", tip)
		}
		if n := jsString(t, ctx, `String(document.querySelectorAll('#hosts-table .rtt-flag').length)`); n != "1" {
			t.Errorf("%s markers, want 1 (slow01's IPv6 only; even01 and agent01 are close)", n)
		}
		if got := jsString(t, ctx, row("even01")+`.dataset.rttWorse`); got != "" {
			t.Errorf("even01 flagged %q", got)
		}
		screenshot(t, ctx, "live-rtt.png")
		errs.check(t, "/live")
	})
}
