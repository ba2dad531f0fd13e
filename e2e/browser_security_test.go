package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A page on another site tries to silence every alert through the
// visitor's browser, the way issue 10 found it could: a no-cors fetch
// with a text/plain body (no preflight), and a text/plain form. The
// daemon, with no tokens and the browser on loopback, must refuse both,
// count them as csrf, and create nothing.
func TestCrossOriginPostInBrowser(t *testing.T) {
	ctx, _ := browser(t)
	d := startDaemon(t, "")
	target := d.http + "/api/0/silences"
	const attack = `{"host":"*","duration":"2562047h"}`
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/fetch":
			fmt.Fprintf(w, `<!doctype html><title>loading</title><script>
fetch(%q, {mode: "no-cors", method: "POST", body: %q})
  .then(function () { document.title = "sent"; }, function (e) { document.title = "failed " + e; });
</script>`, target, attack)
		case "/form":
			// enctype text/plain sends name=value: the name carries the
			// JSON and the value closes a dummy string, a classic trick.
			fmt.Fprintf(w, `<!doctype html><title>form</title>
<form id="f" method="POST" enctype="text/plain" action=%q><input name='{"host":"*","duration":"2562047h","x":"' value='"}'></form>
<script>document.getElementById("f").submit();</script>`, target)
		default:
			http.NotFound(w, r)
		}
	}))
	defer evil.Close()
	// localhost and 127.0.0.1 are different sites to the browser.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	csrf := func() float64 {
		return labelled(metricsFrom(t, http.DefaultClient, d, ""), `hbd_http_refused_total{reason="csrf"}`)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL+"/fetch")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the attacking fetch sent", `document.title === "sent"`)
	waitFor(t, 10*time.Second, "the fetch refused as csrf", func() bool { return csrf() == 1 })

	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL+"/form")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the form posted to the daemon", `location.href.indexOf(`+fmt.Sprintf("%q", target)+`) === 0`)
	if body := jsString(t, ctx, `document.body.innerText`); !strings.Contains(body, "cross-site") {
		t.Errorf("the daemon's answer to the form: %q", body)
	}
	waitFor(t, 10*time.Second, "the form refused as csrf", func() bool { return csrf() == 2 })

	if n := silencesCount(t, d, nil); n != 0 {
		t.Fatalf("the attack created %d silences", n)
	}
}

// With tokens, the pages ask for one: /live shows the token field, and
// once a token is entered the hosts load and the stream is live (it takes
// the token as ?token=); /alerts loads with it too.
func TestPagesWithToken(t *testing.T) {
	ctx, errs := browser(t)
	tok, hash := newToken(t)
	d := startDaemon(t, fmt.Sprintf("[[api.token]]\nname = \"browser\"\nscope = \"write\"\nhash = %q\n", hash))
	s := newSender(t, d, "web01", d.key, false)
	s.heartbeat(time.Minute, 1)

	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/live")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the token field shown", `!document.querySelector('#login').classList.contains('hidden')`)
	if got := jsString(t, ctx, `String(document.querySelectorAll('#hosts-table .vrow[data-host]').length)`); got != "0" {
		t.Fatalf("%s host rows without a token", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login-token`), tok),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "web01 listed with the token", `!!document.querySelector('#hosts-table .vrow[data-host="web01"]')`)
	waitJS(t, ctx, "the stream live with the token", `document.querySelector('#conn-indicator').dataset.mode === 'live'`)
	waitJS(t, ctx, "the sign-out button", `!document.querySelector('#logout').classList.contains('hidden') && document.querySelector('#login').classList.contains('hidden')`)
	// A host that appears now arrives over the stream.
	s2 := newSender(t, d, "app07", d.key, false)
	s2.heartbeat(time.Minute, 1)
	waitJS(t, ctx, "app07 pushed over the stream", `!!document.querySelector('#hosts-table .vrow[data-host="app07"]')`)
	errs.check(t, "/live with a token")

	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/alerts")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "/alerts loaded with the token", `document.querySelector('#summary-hosts').textContent.indexOf('2') >= 0`)
	if jsString(t, ctx, `String(document.querySelector('#login').classList.contains('hidden'))`) != "true" {
		t.Error("/alerts asks for a token although one is stored")
	}
	errs.check(t, "/alerts with a token")

	// Signing out forgets the token: the field is back.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#logout`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the token field after signing out", `(() => { const l = document.querySelector('#login'); return !!l && !l.classList.contains('hidden') && !localStorage.getItem('hbd.token'); })()`)
}
