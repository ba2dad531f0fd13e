package contract

import (
	"strings"
	"testing"
)

// The body README.md shows for POST /api/0/silences decodes field by
// field; anything else is refused.
func TestDecodeSilenceRequest(t *testing.T) {
	req, err := DecodeSilenceRequest([]byte(`{"host": "web*", "metric": "disk_monitor.*.percent", "duration": "2h", "comment": "disk swap"}`))
	if err != nil || req.Host != "web*" || req.Metric != "disk_monitor.*.percent" || req.Duration != "2h" || req.Comment != "disk swap" || req.Until != nil {
		t.Fatalf("got %+v, %v", req, err)
	}
	req, err = DecodeSilenceRequest([]byte(`{"host":"db01","until":1711241767.5}`))
	if err != nil || req.Until == nil || *req.Until != 1711241767.5 {
		t.Fatalf("until: %+v, %v", req, err)
	}
	for body, want := range map[string]string{
		`{"host":"web*","hosts":"x"}`: `unknown field "hosts"`,
		`{"host":"web*"} {}`:          "unexpected data after the JSON object",
		`{"until":"soon"}`:            "cannot unmarshal string",
		``:                            "EOF",
	} {
		if _, err := DecodeSilenceRequest([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
}
