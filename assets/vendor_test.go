package assets

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
)

// The third-party files under static/vendor are exactly those `make
// js-vendor` copied from the pinned npm packages: every embedded file has
// the sha256 that web/VENDOR.sha256 recorded, no file is missing or extra,
// and the version recorded is the one web/package.json and
// web/package-lock.json pin. A hand edit of a vendored file, or a version
// bump without `make js-vendor`, fails here; `make js-vendor-check` (run
// by `make lint`) redoes the copy from the registry and compares bytes.
func TestVendoredFiles(t *testing.T) {
	sums, versions := readVendorSums(t, "../web/VENDOR.sha256")
	embedded := map[string]bool{}
	err := fs.WalkDir(files, "static/vendor", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(name, "static/vendor/")
		embedded[rel] = true
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		want, ok := sums[rel]
		switch {
		case !ok:
			t.Errorf("%s is embedded but not in web/VENDOR.sha256: vendored files come from make js-vendor", name)
		case hex.EncodeToString(sum[:]) != want:
			t.Errorf("%s has sha256 %x, web/VENDOR.sha256 says %s: edited by hand? run make js-vendor", name, sum, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range sums {
		if !embedded[rel] {
			t.Errorf("web/VENDOR.sha256 lists %s, which is not embedded", rel)
		}
	}
	if len(sums) == 0 {
		t.Fatal("web/VENDOR.sha256 lists no files")
	}

	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	readJSON(t, "../web/package.json", &pkg)
	readJSON(t, "../web/package-lock.json", &lock)
	for rel := range sums {
		name := path.Dir(rel)
		pinned := pkg.Dependencies[name]
		locked := lock.Packages["node_modules/"+name]
		switch {
		case pinned == "" || strings.ContainsAny(pinned, "^~<>=*x "):
			t.Errorf("web/package.json pins %s as %q, want an exact version", name, pinned)
		case locked.Version != pinned || locked.Integrity == "":
			t.Errorf("web/package-lock.json has %s %q (integrity %q), package.json pins %q", name, locked.Version, locked.Integrity, pinned)
		case versions[name] != pinned:
			t.Errorf("web/VENDOR.sha256 was written from %s %q, package.json pins %q: run make js-vendor", name, versions[name], pinned)
		}
	}
}

// readVendorSums parses the file make js-vendor writes: "# <package>
// <version>" comments and sha256sum lines "<hex>  <package>/<file>".
func readVendorSums(t *testing.T, name string) (sums, versions map[string]string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sums, versions = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0:
		case f[0] == "#":
			if len(f) == 3 {
				versions[f[1]] = f[2]
			}
		case len(f) == 2 && len(f[0]) == 64:
			sums[f[1]] = f[0]
		default:
			t.Fatalf("%s: cannot read line %q", name, sc.Text())
		}
	}
	return sums, versions
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
