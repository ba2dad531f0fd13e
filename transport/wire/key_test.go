package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	good := bytes.Repeat([]byte{0xab}, 16)
	tests := []struct {
		name    string
		content string // "" with noFile = file missing
		noFile  bool
		want    []byte
		wantErr string
	}{
		{name: "good 16 bytes", content: hex.EncodeToString(good), want: good},
		{name: "good with whitespace", content: "\n  " + strings.ToUpper(hex.EncodeToString(good)) + "\r\n\t", want: good},
		{name: "good 32 bytes", content: strings.Repeat("01", 32) + "\n", want: bytes.Repeat([]byte{1}, 32)},
		{name: "short", content: strings.Repeat("ab", 15), wantErr: "key is 15 bytes, need at least 16"},
		{name: "empty", content: " \n", wantErr: "empty"},
		{name: "non-hex", content: strings.Repeat("zz", 16), wantErr: "must be hex"},
		{name: "odd length", content: strings.Repeat("a", 33), wantErr: "must be hex"},
		{name: "inner space", content: strings.Repeat("ab", 8) + " " + strings.Repeat("ab", 8), wantErr: "must be hex"},
		{name: "huge", content: strings.Repeat("ab", 4000), wantErr: "larger than"},
		{name: "missing", noFile: true, wantErr: "cannot read key file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".key")
			if !tc.noFile {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			key, err := LoadKey(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one containing %q and the path", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(key, tc.want) {
				t.Fatalf("LoadKey = %x, %v; want %x", key, err, tc.want)
			}
		})
	}
	if _, err := LoadKey(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file error does not wrap fs.ErrNotExist: %v", err)
	}
}

func TestGenerateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "hbd", "fleet.key")
	key, err := GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != GeneratedKeyLen {
		t.Fatalf("key is %d bytes", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", di.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if string(raw) != hex.EncodeToString(key)+"\n" {
		t.Fatalf("file holds %q", raw)
	}
	loaded, err := LoadKey(path)
	if err != nil || !bytes.Equal(loaded, key) {
		t.Fatalf("LoadKey after Generate = %x, %v", loaded, err)
	}
	if KeyFileTooOpen(path) {
		t.Fatal("0600 key reported as too open")
	}

	// Never overwrite: the existing key must survive.
	if _, err := GenerateKeyFile(path); err == nil || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateKeyFile: %v, want ErrExist", err)
	}
	again, _ := os.ReadFile(path)
	if !bytes.Equal(again, raw) {
		t.Fatal("existing key file was modified")
	}

	other, err := GenerateKeyFile(filepath.Join(t.TempDir(), "k"))
	if err != nil || bytes.Equal(other, key) {
		t.Fatalf("second key: %x, %v", other, err)
	}
}

func TestKeyFileTooOpen(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want bool
	}{
		{0o600, false}, {0o400, false}, {0o640, true}, {0o604, true}, {0o620, true}, {0o644, true},
	} {
		path := filepath.Join(dir, tc.mode.String())
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		if got := KeyFileTooOpen(path); got != tc.want {
			t.Errorf("KeyFileTooOpen(%v) = %v, want %v", tc.mode, got, tc.want)
		}
	}
	if KeyFileTooOpen(filepath.Join(dir, "missing")) {
		t.Error("missing file reported as too open")
	}
}
