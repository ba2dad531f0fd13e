package plugins

// Builtin is one built-in plugin: the name of its [plugins.NAME] table in
// hbd-agent.toml, which is also the name its samples are stored under, and
// the constructor of its collector.
type Builtin struct {
	Name string
	New  func() Collector
}

// Builtins returns the built-in plugins, in the order the agent starts
// them and error messages list them. A new plugin is its own file (the
// Collector and its New) and one row here: the config learns the names
// from Names, so an unknown [plugins.NAME] table is a config error.
func Builtins() []Builtin {
	return []Builtin{
		{"cpu_monitor", NewCPU},
		{"memory_monitor", NewMemory},
		{"disk_monitor", NewDisk},
		{"network_monitor", NewNetwork},
	}
}

// Names returns the names of Builtins, in a new slice.
func Names() []string {
	var names []string
	for _, b := range Builtins() {
		names = append(names, b.Name)
	}
	return names
}
