//go:build integration

package main

import (
	"testing"

	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationMetricsMultiProcess runs a job end to end through auth,
// gateway, converter and notification as separate processes on MySQL,
// RabbitMQ, FerretDB and Mailpit, and checks that each process's /metrics,
// on its own port (the health port of converter and notification), shows
// its part of it.
func TestIntegrationMetricsMultiProcess(t *testing.T) {
	c := newCluster(t, testsupport.Broker(t))
	email := testsupport.RandomName("user-") + "@example.com"
	c.addUser(email, "metrics-password")
	urls := roleMetrics{}
	for _, role := range []string{"auth", "gateway", "converter", "notification"} { // the gateway needs auth's address
		c.start(role, role)
		urls[role] = "http://" + c.addrs[role] + "/metrics"
	}
	before := urls.scrape(t)
	size := metricsFlow(t, c.gateway, email, "metrics-password")
	checkFlowMetrics(t, urls, before, size)
	// The gateway forwards logins to auth, which counts them: once.
	if n := urls.scrape(t)["gateway"].Value("mp3converter_logins_total", "outcome", "ok"); n != 0 {
		t.Errorf("the gateway counted %v logins that auth decided", n)
	}
}
