package server

import (
	"context"

	"github.com/eventbase/eventbase/eventstore"
	esmongo "github.com/eventbase/eventbase/eventstore/mongo"
	"github.com/eventbase/eventbase/readstore"
	rsmongo "github.com/eventbase/eventbase/readstore/mongo"
)

// openMongoEvents opens the log in database cfg.MongoDB.
func openMongoEvents(ctx context.Context, cfg Config) (eventstore.Store, error) {
	s, err := esmongo.Open(ctx, cfg.MongoURI, cfg.MongoDB)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// openMongoReads opens the read models: system ones in database cfg.MongoDB,
// each app's collections in database <cfg.MongoDB>_<app id>.
func openMongoReads(ctx context.Context, cfg Config) (readstore.Store, error) {
	s, err := rsmongo.Open(ctx, cfg.MongoURI, cfg.MongoDB)
	if err != nil {
		return nil, err
	}
	return s, nil
}
