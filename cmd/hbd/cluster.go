package main

import (
	"github.com/hbd-project/hbd/actors"
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

// replicaConfig is how the member replicates its hosts to their
// successors; nil when the daemon runs alone.
func replicaConfig(cfg *config.Daemon) *actors.ReplicaConfig {
	if !cfg.Cluster.Enabled() {
		return nil
	}
	return &actors.ReplicaConfig{Every: cfg.Cluster.ReplicateEvery.Duration}
}
