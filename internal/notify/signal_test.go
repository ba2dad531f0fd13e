package notify

import (
	"context"
	"net/http"
	"reflect"
	"testing"
)

// The signal-cli REST API: POST /v2/send with message, number and
// recipients.
func TestSignalRequest(t *testing.T) {
	srv, reqs := newServiceServer(t, func(int) (int, http.Header) { return http.StatusCreated, nil })
	s, err := NewSignal(SignalConfig{Name: "sig", APIURL: srv.URL + "/signal", Number: "+4915112345678", Recipients: []string{"+4915187654321", "group.ZmVkY2Jh"}})
	s = closing(t, s, err)
	if err := s.Send(context.Background(), nastyNotification()); err != nil {
		t.Fatal(err)
	}
	body := jsonPost(t, next(t, reqs), "/signal/v2/send")
	want := map[string]any{
		"message": "CRITICAL db_1*<b>&\"x\" disk_monitor._root_.`percent`\n" +
			"*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line",
		"number":     "+4915112345678",
		"recipients": []any{"+4915187654321", "group.ZmVkY2Jh"},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body =\n%v\nwant\n%v", body, want)
	}
}
