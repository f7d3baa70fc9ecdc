package commands

import (
	"context"
	"errors"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/secret"
)

// CreatedApp is what creating an app hands out, once: the secret key is not
// stored anywhere in clear.
type CreatedApp struct {
	AppID          string `json:"app_id"`
	PublishableKey string `json:"publishable_key"`
	SecretKey      string `json:"secret_key"`
}

// NewAppKeys returns a fresh publishable key and secret key.
func NewAppKeys() (pk, sk string) {
	return secret.Token("pk_live_", 32), secret.Token("sk_live_", 32)
}

// CreateApp creates an app with random id and keys. mongoURISealed, when
// not empty, is the app's own MongoDB URI sealed under the master key.
func (s *Service) CreateApp(ctx context.Context, m Meta, name, mongoURISealed string) (*CreatedApp, error) {
	pk, sk := NewAppKeys()
	changes, err := domain.CreateApp(name, pk, secret.Hash(sk), mongoURISealed)
	if err != nil {
		return nil, err
	}
	id := "app_" + secret.HexID(12)
	if _, err := s.Append(ctx, m, id, domain.AppStream, eventstore.NoStream, changes); err != nil {
		return nil, err
	}
	return &CreatedApp{AppID: id, PublishableKey: pk, SecretKey: sk}, nil
}

// RotateKeys replaces both keys of an app.
func (s *Service) RotateKeys(ctx context.Context, m Meta, appID string) (*CreatedApp, error) {
	pk, sk := NewAppKeys()
	_, err := s.updateApp(ctx, m, appID, func(*domain.App) ([]domain.Change, error) {
		return []domain.Change{{Type: domain.EventAppKeysRotated, Payload: domain.KeysRotatedPayload{PublishableKey: pk, SecretKeyHash: secret.Hash(sk)}}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &CreatedApp{AppID: appID, PublishableKey: pk, SecretKey: sk}, nil
}

// SetAccessMode changes an app's access mode.
func (s *Service) SetAccessMode(ctx context.Context, m Meta, appID, mode string) (*domain.App, error) {
	return s.updateApp(ctx, m, appID, func(a *domain.App) ([]domain.Change, error) { return a.SetAccessMode(mode) })
}

// SetJWTConfig changes an app's token lifetimes.
func (s *Service) SetJWTConfig(ctx context.Context, m Meta, appID, accessTTL string, refreshDays int) (*domain.App, error) {
	return s.updateApp(ctx, m, appID, func(a *domain.App) ([]domain.Change, error) { return a.SetJWTConfig(accessTTL, refreshDays) })
}

// MinAdminPasswordLen is the shortest dashboard admin password accepted.
const MinAdminPasswordLen = 8

// CreateAdmin creates a dashboard admin, or resets its password.
func (s *Service) CreateAdmin(ctx context.Context, m Meta, email, password string) (created bool, err error) {
	email, err = domain.NormalizeEmail(email)
	if err != nil {
		return false, err
	}
	if len(password) < MinAdminPasswordLen {
		return false, domain.Invalid("password", "password must be at least 8 characters")
	}
	hash := secret.HashPassword(password)
	stream := domain.AdminStream(email)
	err = retry(ctx, func() error {
		evs, err := s.Events.ReadStream(ctx, domain.SystemApp, stream, 0)
		if err != nil {
			return err
		}
		version := int64(len(evs))
		changes, err := domain.CreateAdmin(version, email, hash)
		if err != nil {
			return err
		}
		created = version == 0
		_, err = s.Append(ctx, m, domain.SystemApp, stream, version, changes)
		return err
	})
	return created, err
}

// ErrBadCredentials is the one answer to a wrong e-mail or password.
var ErrBadCredentials = errors.New("invalid email or password")
