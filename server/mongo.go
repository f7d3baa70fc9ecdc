package server

import (
	"context"
	"errors"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/readstore"
)

// errNoMongo is returned until the MongoDB adapters are wired in.
var errNoMongo = errors.New("EVENTBASE_MONGODB_URI: the MongoDB store is not available in this build yet")

func openMongoEvents(ctx context.Context, cfg Config) (eventstore.Store, error) {
	return nil, errNoMongo
}

func openMongoReads(ctx context.Context, cfg Config) (readstore.Store, error) {
	return nil, errNoMongo
}
