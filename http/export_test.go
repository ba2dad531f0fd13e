package http

import "net"

// ServeListener serves on ln instead of a socket Listen binds: the
// black-box tests in package http_test hand it fasthttputil's in-memory
// listener. It returns like Serve.
func (s *Server) ServeListener(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return s.Serve()
}
