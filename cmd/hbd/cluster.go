package main

import (
	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/config"
)

// clusterConfig is the member's configuration from [cluster]; nil when the
// daemon runs alone.
func clusterConfig(cfg *config.Daemon) *member.Config {
	c := &cfg.Cluster
	if !c.Enabled() {
		return nil
	}
	return &member.Config{
		Name:          c.Name,
		Listen:        c.Listen,
		Advertise:     c.Advertise,
		Provider:      c.Provider,
		Peers:         c.Peers,
		HealthListen:  c.HealthListen,
		Refresh:       c.Refresh.Duration,
		EtcdEndpoints: c.EtcdEndpoints,
		EtcdPrefix:    c.EtcdPrefix,
	}
}
