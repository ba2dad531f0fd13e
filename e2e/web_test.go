package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// The pages are served from the binary, and CORS headers appear only for
// the configured origins.
func TestPagesAndCORS(t *testing.T) {
	d := startDaemon(t, `cors_origins = ["https://grafana.example.com"]`)
	for _, p := range []string{"/live", "/plugins", "/alerts"} {
		st, body := get(t, d.http+p)
		if st != 200 || !strings.Contains(string(body), "<html") || !strings.Contains(string(body), `href="/live"`) {
			t.Errorf("%s: %d, page %.80q", p, st, body)
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(d.http + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/live" {
		t.Errorf("/ answered %d Location %q, want 302 to /live", resp.StatusCode, resp.Header.Get("Location"))
	}

	do := func(method, origin string) *http.Response {
		req, _ := http.NewRequest(method, d.http+"/api/0/hosts", nil)
		req.Header.Set("Origin", origin)
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "GET")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := do(http.MethodGet, "https://grafana.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "https://grafana.example.com" {
		t.Errorf("allowed origin got Access-Control-Allow-Origin %q", r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := do(http.MethodGet, "https://evil.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin got Access-Control-Allow-Origin %q", r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := do(http.MethodOptions, "https://grafana.example.com"); r.StatusCode != http.StatusNoContent || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %d %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Methods"))
	}
}
