package commands

import (
	"context"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
)

// SetPostAuthURL sets or (with "") removes the app's post-auth hook.
func (s *Service) SetPostAuthURL(ctx context.Context, m Meta, appID, url string) (*domain.App, error) {
	return s.updateApp(ctx, m, appID, func(a *domain.App) ([]domain.Change, error) { return a.SetPostAuthURL(url) })
}

// RecordHookDelivery records the outcome of a post-auth hook delivery.
func (s *Service) RecordHookDelivery(ctx context.Context, appID string, p domain.AuthHookPayload, delivered bool) error {
	typ := domain.EventAuthHookFailed
	if delivered {
		typ = domain.EventAuthHookDelivered
	}
	_, err := s.Append(ctx, Meta{Actor: "system"}, appID, domain.AuthHooksStream, eventstore.Any, []domain.Change{{Type: typ, Payload: p}})
	return err
}
