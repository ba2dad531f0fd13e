package main

import (
	"fmt"
	"os"

	"github.com/hbd-project/hbd/transport/wire"
)

// writeNewKey is -new-key FILE: it creates a fleet key where a key_file
// points, which the daemon does not do itself (it creates one only at the
// default path, <data_dir>/hbd.key). The packages' postinstall runs it for
// /etc/hbd/hbd.key on first install. An existing file is an error, never
// replaced: agents hold copies of the key.
func writeNewKey(path string) int {
	if _, err := wire.GenerateKeyFile(path); err != nil {
		fmt.Fprintln(os.Stderr, "hbd:", err)
		return 1
	}
	fmt.Printf("created fleet key %s (mode 0600); copy it to every agent (key_file)\n", path)
	return 0
}
