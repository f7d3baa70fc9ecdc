package commands

import (
	"context"

	"github.com/eventbase/eventbase/domain"
)

// LoadSigningKeys folds an app's key ring (empty before the first token).
func (s *Service) LoadSigningKeys(ctx context.Context, appID string) (*domain.SigningKeys, error) {
	evs, err := s.Events.ReadStream(ctx, appID, domain.SigningKeysStream, 0)
	if err != nil {
		return nil, err
	}
	k := &domain.SigningKeys{}
	for _, e := range evs {
		if err := k.Apply(e.Type, e.Payload, e.Time); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// AddSigningKey appends a key to the ring as loaded; a concurrent addition
// is a version conflict (the caller reloads and uses the winner's key).
func (s *Service) AddSigningKey(ctx context.Context, appID string, ring *domain.SigningKeys, p domain.SigningKeyPayload) error {
	changes, err := ring.Add(p)
	if err != nil {
		return err
	}
	_, err = s.Append(ctx, Meta{Actor: "system"}, appID, domain.SigningKeysStream, ring.Version, changes)
	return err
}
