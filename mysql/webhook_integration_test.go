//go:build integration

package mysql_test

import (
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/storetest"
)

func TestIntegrationWebhooks(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) mp3converter.WebhookStore {
		return open(t, testsupport.MySQL(t)).Webhooks
	})
}
