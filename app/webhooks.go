package app

import (
	"context"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/webhook"
)

// jobEvents records finished jobs' events for webhooks: the converter
// records job.failed, the notification role job.done.
func (m *Main) jobEvents() mp3converter.JobEvents {
	return &webhook.Events{Store: m.Engines.Webhooks, JobJSON: httpapi.JobJSON, Logger: m.Logger.With("role", "webhooks")}
}

// webhookGuard keeps webhooks off non-public addresses unless allowed.
func (m *Main) webhookGuard() *webhook.Guard {
	return &webhook.Guard{AllowPrivate: m.Config.WebhookAllowPrivate}
}

// webhookRoutes serves the gateway's /webhooks.
func (m *Main) webhookRoutes() *httpapi.Webhooks {
	return &httpapi.Webhooks{Store: m.Engines.Webhooks, Guard: m.webhookGuard()}
}

// startDispatcher sends the webhook deliveries that are due, in the
// processes that run the notification role.
func (m *Main) startDispatcher(ctx context.Context) {
	d := &webhook.Dispatcher{Store: m.Engines.Webhooks, Client: m.webhookGuard().Client(webhook.Timeout),
		Backoff: m.WebhookBackoff, Poll: m.WebhookPoll, Metrics: m.Metrics, Logger: m.Logger.With("role", "webhooks")}
	m.start(func() { d.Run(ctx) })
}
