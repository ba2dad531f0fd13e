package statefile

import (
	"testing"

	"go.uber.org/goleak"
)

// The reader of a file runs a goroutine per file: none may outlive Read.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
