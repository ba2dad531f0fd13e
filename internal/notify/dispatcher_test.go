package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait for an event in these tests, so a bug fails
// the test instead of hanging it; nothing here sleeps to let time pass.
const waitLimit = 10 * time.Second

// results collects Result callbacks.
type results chan Result

func newResults() results { return make(results, 256) }

func (r results) record(res Result) { r <- res }

func (r results) next(t *testing.T) Result {
	t.Helper()
	select {
	case res := <-r:
		return res
	case <-time.After(waitLimit):
		t.Fatal("no result")
		return Result{}
	}
}

// sleepRecorder is an instant Sleep that records the delays asked for.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// blockingServer holds every request until the client gives up or the test
// releases it, then answers 200. entered gets one value per request.
type blockingServer struct {
	*httptest.Server
	entered   chan struct{}
	release   chan struct{}
	releaseFn func() // closes release once
}

func newBlockingServer(t *testing.T) *blockingServer {
	t.Helper()
	b := &blockingServer{entered: make(chan struct{}, 64), release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.entered <- struct{}{}
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
	}))
	var once sync.Once
	b.releaseFn = func() { once.Do(func() { close(b.release) }) }
	// Cleanups run last-in first-out: release the handlers, then close.
	t.Cleanup(b.Server.Close)
	t.Cleanup(b.releaseFn)
	return b
}

func (b *blockingServer) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(waitLimit):
		t.Fatal("request did not reach the server")
	}
}

func TestDispatcherRetriesWithBackoff(t *testing.T) {
	var calls atomic.Int32
	srv, _ := newRecordingServer(t, func() int {
		if calls.Add(1) <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	res := newResults()
	sleeps := &sleepRecorder{}
	d := NewDispatcher([]Route{{Channel: newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})}},
		DispatcherOptions{Result: res.record, Sleep: sleeps.sleep})
	defer d.Close()

	if q, dr := d.Submit(testNotification()); q != 1 || dr != 0 {
		t.Fatalf("Submit = %d queued, %d dropped", q, dr)
	}
	r := res.next(t)
	if r.Err != nil || r.Attempts != 3 || r.Route != "hook" || r.Notification.Host != "web01" {
		t.Fatalf("result = %+v, want sent on hook after 3 attempts", r)
	}
	if got, want := sleeps.got(), []time.Duration{time.Second, 2 * time.Second}; !equalDurations(got, want) {
		t.Errorf("retry delays = %v, want %v", got, want)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
}

func TestDispatcherGivesUp(t *testing.T) {
	srv, _ := newRecordingServer(t, always(http.StatusInternalServerError))
	res := newResults()
	sleeps := &sleepRecorder{}
	d := NewDispatcher([]Route{{Channel: newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})}},
		DispatcherOptions{Result: res.record, Sleep: sleeps.sleep, MaxAttempts: 4, Backoff: 10 * time.Second, MaxBackoff: 25 * time.Second})
	defer d.Close()

	d.Submit(testNotification())
	r := res.next(t)
	if r.Attempts != 4 {
		t.Errorf("attempts = %d, want 4", r.Attempts)
	}
	var se *HTTPStatusError
	if !errors.As(r.Err, &se) || se.StatusCode != 500 || !strings.Contains(r.Err.Error(), "upstream says no") {
		t.Errorf("err = %v, want the 500 with its body", r.Err)
	}
	if errors.Is(r.Err, ErrClosed) {
		t.Errorf("err = %v, must not be ErrClosed", r.Err)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second}
	if got := sleeps.got(); !equalDurations(got, want) {
		t.Errorf("retry delays = %v, want %v (doubling, capped)", got, want)
	}
}

func TestDispatcherSlowChannelDoesNotSlowOthers(t *testing.T) {
	slow := newBlockingServer(t)
	healthy, reqs := newRecordingServer(t, always(http.StatusOK))
	res := newResults()
	d := NewDispatcher([]Route{
		{Channel: newTestWebhook(t, WebhookConfig{Name: "slow", URL: slow.URL, Timeout: 750 * time.Millisecond})},
		{Channel: newTestWebhook(t, WebhookConfig{Name: "healthy", URL: healthy.URL})},
	}, DispatcherOptions{Result: res.record, MaxAttempts: 1})

	const count = 5
	for i := range count {
		n := testNotification()
		n.NotificationCount = i
		if q, dr := d.Submit(n); q != 2 || dr != 0 {
			t.Fatalf("Submit = %d queued, %d dropped", q, dr)
		}
	}
	// Every healthy delivery completes while the slow route is still stuck
	// on its first notification.
	for i := range count {
		r := res.next(t)
		if r.Route != "healthy" || r.Err != nil {
			t.Fatalf("result %d = %+v, want a healthy success before any slow result", i, r)
		}
		if r.Notification.NotificationCount != i {
			t.Errorf("healthy delivered #%d out of order at %d", r.Notification.NotificationCount, i)
		}
	}
	if len(reqs) != count {
		t.Errorf("healthy server has %d requests, want %d", len(reqs), count)
	}
	r := res.next(t)
	if r.Route != "slow" || !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("result = %+v, want the slow route timing out", r)
	}
	d.Close()
	// The rest of the slow queue is accounted for: in hand at Close and
	// timed out, or reported as closed.
	for i := 1; i < count; i++ {
		r := res.next(t)
		if r.Route != "slow" || r.Err == nil {
			t.Errorf("result = %+v, want a slow failure", r)
		}
	}
	if len(res) != 0 {
		t.Errorf("%d extra results", len(res))
	}
}

func TestDispatcherQueueFullAndClose(t *testing.T) {
	srv := newBlockingServer(t)
	res := newResults()
	d := NewDispatcher([]Route{
		{Channel: newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})},
		{Channel: nameOnly("db-only"), Hosts: []string{"db*"}}, // never accepts web01
	}, DispatcherOptions{Result: res.record, QueueSize: 2, MaxAttempts: 1})

	n := func(i int) Notification {
		n := testNotification()
		n.NotificationCount = i
		return n
	}
	d.Submit(n(1))
	srv.waitEntered(t) // the worker holds #1; the queue is empty
	for i := 2; i <= 3; i++ {
		if q, dr := d.Submit(n(i)); q != 1 || dr != 0 {
			t.Fatalf("Submit #%d = %d queued, %d dropped; want 1, 0", i, q, dr)
		}
	}
	if got := d.QueueLen(0); got != 2 {
		t.Errorf("QueueLen = %d, want 2", got)
	}
	// The queue is full and the worker is blocked: Submit returns at once.
	if q, dr := d.Submit(n(4)); q != 0 || dr != 1 {
		t.Fatalf("Submit on a full queue = %d queued, %d dropped; want 0, 1", q, dr)
	}
	if queued, dropped := d.SubmitRoute(0, n(5)); queued || !dropped {
		t.Errorf("SubmitRoute on a full queue = %v, %v; want dropped", queued, dropped)
	}
	if queued, dropped := d.SubmitRoute(1, n(6)); queued || dropped {
		t.Errorf("SubmitRoute to a route that does not accept = %v, %v; want neither", queued, dropped)
	}
	// Both drops are counted on the route that dropped them, none on the
	// route that never accepted.
	if got := d.Drops(0); got != (Drops{QueueFull: 2}) {
		t.Errorf("Drops(0) = %+v, want 2 queue full", got)
	}
	if got := d.Drops(1); got != (Drops{}) {
		t.Errorf("Drops(1) = %+v, want none", got)
	}

	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	<-d.ctx.Done() // Close has stopped accepting
	select {
	case <-closed:
		t.Fatal("Close returned while a send was in hand")
	default:
	}
	srv.releaseFn() // let the send in hand finish

	r := res.next(t)
	if r.Err != nil || r.Notification.NotificationCount != 1 || r.Attempts != 1 {
		t.Errorf("in-hand result = %+v, want #1 sent", r)
	}
	for _, want := range []int{2, 3} {
		r := res.next(t)
		if !errors.Is(r.Err, ErrClosed) || r.Notification.NotificationCount != want || r.Attempts != 0 {
			t.Errorf("queued result = %+v, want #%d with ErrClosed", r, want)
		}
	}
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("Close did not return")
	}
	if q, dr := d.Submit(n(7)); q != 0 || dr != 1 {
		t.Errorf("Submit after Close = %d queued, %d dropped; want 0, 1", q, dr)
	}
	if got := d.Drops(0); got != (Drops{QueueFull: 2, Closed: 1}) {
		t.Errorf("Drops(0) after Close = %+v, want 2 queue full, 1 closed", got)
	}
	d.Close() // a second Close is a no-op
	if len(res) != 0 {
		t.Errorf("%d extra results: %+v", len(res), <-res)
	}
}

func TestDispatcherCloseCancelsRetryWait(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(http.StatusServiceUnavailable))
	res := newResults()
	// The default Sleep, with a backoff far longer than the test.
	d := NewDispatcher([]Route{{Channel: newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})}},
		DispatcherOptions{Result: res.record, Backoff: time.Hour})
	d.Submit(testNotification())
	<-reqs
	d.Close()
	r := res.next(t)
	if !errors.Is(r.Err, ErrClosed) || !strings.Contains(r.Err.Error(), "503") || r.Attempts != 1 {
		t.Errorf("result = %+v, want ErrClosed wrapping the 503 after 1 attempt", r)
	}
}

// panicky is a channel whose Send panics.
type panicky struct{}

func (panicky) Name() string                             { return "panicky" }
func (panicky) Send(context.Context, Notification) error { panic("boom") }

func TestDispatcherRecoversChannelPanic(t *testing.T) {
	res := newResults()
	d := NewDispatcher([]Route{{Channel: panicky{}}}, DispatcherOptions{Result: res.record, MaxAttempts: 1})
	defer d.Close()
	d.Submit(testNotification())
	if r := res.next(t); r.Err == nil || !strings.Contains(r.Err.Error(), "panicked: boom") {
		t.Errorf("result = %+v, want the panic as an error", r)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDispatcherCloseWithinDeliversQueued(t *testing.T) {
	srv := newBlockingServer(t)
	res := newResults()
	d := NewDispatcher([]Route{{Channel: newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})}},
		DispatcherOptions{Result: res.record})
	n := func(i int) Notification { x := testNotification(); x.NotificationCount = i; return x }
	for i := 1; i <= 3; i++ {
		d.Submit(n(i))
	}
	<-srv.entered // #1 is in hand, #2 and #3 queued
	closed := make(chan struct{})
	go func() { d.CloseWithin(waitLimit); close(closed) }()
	// Once closing, nothing new is accepted...
	for {
		d.mu.RLock()
		c := d.closed
		d.mu.RUnlock()
		if c {
			break
		}
		runtime.Gosched()
	}
	if q, dr := d.Submit(n(9)); q != 0 || dr != 1 {
		t.Errorf("Submit while closing = %d queued, %d dropped; want 0, 1", q, dr)
	}
	// ...but everything queued is delivered.
	srv.releaseFn()
	for want := 1; want <= 3; want++ {
		if r := res.next(t); r.Err != nil || r.Notification.NotificationCount != want {
			t.Errorf("result %+v, want #%d sent", r, want)
		}
	}
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("CloseWithin did not return once the queue was empty")
	}
}

func TestDispatcherCloseWithinEndsAtTheGrace(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(http.StatusServiceUnavailable))
	res := newResults()
	d := NewDispatcher([]Route{{Channel: newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})}},
		DispatcherOptions{Result: res.record, Backoff: time.Hour})
	d.Submit(testNotification())
	d.Submit(testNotification())
	<-reqs
	// The first waits an hour to retry: the grace period ends that wait
	// and the second is reported not sent.
	d.CloseWithin(time.Millisecond)
	for i := 0; i < 2; i++ {
		if r := res.next(t); !errors.Is(r.Err, ErrClosed) {
			t.Errorf("result %d = %+v, want ErrClosed", i, r)
		}
	}
}
