//go:build !race

package rejected

const raceEnabled = false
