package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMaintenanceWindowsLoad(t *testing.T) {
	d, err := ParseDaemon("hbd.toml", []byte(`
[[maintenance]]
name = "db-patching"
hosts = "db*"
schedule = "Sat 02:00-04:00"
timezone = "Europe/Berlin"
comment = "weekly patches"

[[maintenance]]
name = "backups"
hosts = "nas1"
metrics = "disk_monitor.*.percent"
schedule = "0 3 * * *"
duration = "45m"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Maintenance) != 2 || d.Maintenance[0].Line != 2 || d.Maintenance[1].Line != 9 {
		t.Fatalf("maintenance %+v", d.Maintenance)
	}
	list, err := d.MaintenanceSilences()
	if err != nil {
		t.Fatal(err)
	}
	if list[0].Name != "db-patching" || list[0].Schedule.Zone().String() != "Europe/Berlin" || list[0].Origin != "config" ||
		list[1].Metric != "disk_monitor.*.percent" || list[1].Schedule.Duration() != 45*time.Minute {
		t.Errorf("silences %+v", list)
	}
}

// Every mistake in every window is reported, each at its line.
func TestMaintenanceWindowErrorsHaveFileAndLine(t *testing.T) {
	_, err := ParseDaemon("hbd.toml", []byte(`[limits]
silences_total = 3

[[maintenance]]
name = "a"
hosts = "db*"
schedule = "Sat 02:00-04:00"
timezone = "Europe/Nowhere"

[[maintenance]]
name = "a"
hosts = "["
schedule = "0 2 * * 6"
timezone = "Berlin"

[[maintenance]]
hosts = "x"
schedule = "Sam 02:00-04:00"

[[maintenance]]
name = "d"
hosts = "y"
schedule = "Sat 02:00-04:00"
duration = "1h"
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	want := []string{
		`hbd.toml:8: maintenance[0].timezone: unknown timezone "Europe/Nowhere"`,
		`hbd.toml:11: maintenance[1].name: duplicate name "a"`,
		`hbd.toml:12: maintenance[1].hosts: bad host pattern "["`,
		`hbd.toml:13: maintenance[1].schedule: schedule "0 2 * * 6": a cron schedule needs a duration`,
		`hbd.toml:14: maintenance[1].timezone: unknown timezone "Berlin"`,
		`hbd.toml:16: maintenance[2].name: required`,
		`hbd.toml:18: maintenance[2].schedule: schedule "Sam 02:00-04:00": unknown weekday "Sam"`,
		`hbd.toml:20: maintenance[3]: more [[maintenance]] windows than [limits] silences_total (3)`,
		`hbd.toml:24: maintenance[3].duration: schedule "Sat 02:00-04:00" is a time range, which has its own length: drop the duration`,
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if i >= len(errs) || !strings.HasPrefix(errs[i].Error(), w) {
			got := "(none)"
			if i < len(errs) {
				got = errs[i].Error()
			}
			t.Errorf("error %d:\n got %s\nwant %s...", i, got, w)
		}
	}
}
