package http

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckEvery is how often, at most, a handshake looks at the
// certificate files: a stat of two files per second costs nothing, and a
// renewed certificate is in use a second after it is written.
const certCheckEvery = time.Second

// CertReloader serves a certificate and key pair from files and re-reads
// them when either file's modification time or size changes, so a renewed
// certificate (certbot, cert-manager) needs no restart. A pair that does
// not load (a half-written renewal, a key that does not match) is logged
// and the previous one stays in use until the files load again. Safe for
// concurrent use.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of certFile and keyFile when cert was loaded
	checked time.Time
	lastErr string // the last load error logged, so a persisting one is logged once
}

type fileStamp struct {
	mtime time.Time
	size  int64
}

// NewCertReloader loads the pair once; an error here is a startup error.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	c := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamp, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cert, c.stamp, c.checked = cert, stamp, c.now()
	return c, nil
}

func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load the TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return &cert, nil
}

func (c *CertReloader) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return s, fmt.Errorf("cannot read TLS file: %w", err)
		}
		s[i] = fileStamp{st.ModTime(), st.Size()}
	}
	return s, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.checked) >= certCheckEvery {
		c.checked = now
		c.reloadLocked()
	}
	return c.cert, nil
}

// reloadLocked re-reads the pair if the files changed since it was loaded.
func (c *CertReloader) reloadLocked() {
	stamp, err := c.stamps()
	if err == nil && stamp == c.stamp {
		return
	}
	var cert *tls.Certificate
	if err == nil {
		cert, err = loadPair(c.certFile, c.keyFile)
	}
	if err != nil {
		// Stamps stay as they were, so the next check tries again: a
		// renewal written file by file loads once both files are in.
		if msg := err.Error(); msg != c.lastErr {
			c.lastErr = msg
			c.log.Warn("TLS certificate files changed but do not load; still serving the previous certificate", "err", err)
		}
		return
	}
	c.cert, c.stamp, c.lastErr = cert, stamp, ""
	attrs := []any{"cert", c.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.log.Info("reloaded the TLS certificate", attrs...)
}

// TLSConfig is a server config that takes its certificate from c.
func (c *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
}
