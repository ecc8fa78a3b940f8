package sqlite_test

import (
	"context"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/storetest"
)

func TestWebhooks(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) mp3converter.WebhookStore { return testsupport.SQLite(t).Webhooks })
}

// TestDeleteUserDeletesWebhooks: an account deleted leaves no webhook that
// a new account of the same email would inherit.
func TestDeleteUserDeletesWebhooks(t *testing.T) {
	ctx := context.Background()
	db := testsupport.SQLite(t)
	if err := db.Users.CreateUser(ctx, &mp3converter.User{Email: "ann@example.com", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	w := &mp3converter.Webhook{ID: mp3converter.NewID(), Owner: "ann@example.com", URL: "https://example.com/", Secret: "whsec_x"}
	if err := db.Webhooks.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := db.Users.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if ws, err := db.Webhooks.ListWebhooks(ctx, "ann@example.com"); err != nil || len(ws) != 0 {
		t.Errorf("after DeleteUser: %d webhooks, %v", len(ws), err)
	}
}
