package contract

import (
	"slices"

	"github.com/hbd-project/hbd/internal/samplestore"
)

// Plugin is one plugin of a host in GET /api/0/hosts/{hostname}/plugins.
type Plugin struct {
	Name    string
	Samples *samplestore.Ring // not empty
}

// AppendPlugins appends the answer of GET /api/0/hosts/{hostname}/plugins:
// the latest sample of every plugin, in the order given:
// {"hostname":h,"plugins":{name:{"timestamp","data","sample_count"},...}}.
func AppendPlugins(b []byte, host string, plugins []Plugin) []byte {
	b = slices.Grow(b, 256+len(plugins)*256)
	b = append(b, `{"hostname":`...)
	b = appendString(b, host)
	b = append(b, `,"plugins":{`...)
	for i, p := range plugins {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, p.Name)
		b = append(b, `:{"timestamp":`...)
		b = appendUnixNano(b, p.Samples.Newest(0))
		b = append(b, `,"data":`...)
		b = p.Samples.AppendJSON(b, 0)
		b = append(b, `,"sample_count":`...)
		b = appendInt(b, p.Samples.Len())
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// AppendPluginSamples appends the answer of
// GET /api/0/hosts/{hostname}/plugins/{plugin}?limit=N: the newest limit
// samples, newest first, how many were returned ("sample_count") and how
// many are stored ("stored").
// Samples are read from the ring where it keeps them (a concrete type, so
// that the encoders allocate nothing beyond b).
func AppendPluginSamples(b []byte, host, plugin string, s *samplestore.Ring, limit int) []byte {
	n := min(limit, s.Len())
	size := 0 // of the latest sample: the others are about as long
	if n > 0 {
		var tmp [512]byte
		size = len(s.AppendJSON(tmp[:0], 0))
	}
	b = slices.Grow(b, 128+len(host)+len(plugin)+n*(48+size))
	b = append(b, `{"hostname":`...)
	b = appendString(b, host)
	b = append(b, `,"plugin":`...)
	b = appendString(b, plugin)
	b = append(b, `,"samples":[`...)
	i := 0
	for ts, data := range s.Latest(n) {
		if i > 0 {
			b = append(b, ',')
		}
		i++
		b = append(b, `{"timestamp":`...)
		b = appendUnixNano(b, ts)
		b = append(b, `,"data":`...)
		b = append(b, data...)
		b = append(b, '}')
	}
	b = append(b, `],"sample_count":`...)
	b = appendInt(b, n)
	b = append(b, `,"stored":`...)
	b = appendInt(b, s.Len())
	return append(b, '}')
}

// PluginFrame is the WebSocket frame of a new sample: data is the sample's
// JSON object as the agent sent it, unixNano its timestamp.
// {"type":"plugin","data":{"host","plugin","data","timestamp"}}.
func PluginFrame(host, plugin string, data []byte, unixNano int64) []byte {
	b := make([]byte, 0, 96+len(host)+len(plugin)+len(data))
	b = append(b, `{"type":"plugin","data":{"host":`...)
	b = appendString(b, host)
	b = append(b, `,"plugin":`...)
	b = appendString(b, plugin)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"timestamp":`...)
	b = appendUnixNano(b, unixNano)
	return append(b, "}}"...)
}
