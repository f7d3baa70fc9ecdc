package server_test

import (
	"os"
	"testing"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/server"
)

// blackBox lists the HTTP/WebSocket tests that must pass on every store:
// TestEmbedded runs them on SQLite, TestMongoDB on MongoDB (jongodb, or a
// real server through EVENTBASE_TEST_MONGODB_URI).
var blackBox = []struct {
	name string
	fn   func(t *testing.T)
}{
	{"DataCRUDBothDialects", testDataCRUDBothDialects},
	{"UrBackendParity", testUrBackendParity},
	{"SMTPDeliveryEndToEnd", testSMTPDeliveryEndToEnd},
	{"RealtimeLimits", testRealtimeLimits},
	{"KeysAndRLSWithoutUsers", testKeysAndRLSWithoutUsers},
	{"AccessModeAndSecure", testAccessModeAndSecure},
	{"SchemaUniqueAndConcurrency", testSchemaUniqueAndConcurrency},
	{"HistoryAndTimeTravel", testHistoryAndTimeTravel},
	{"QueriesAndInputLimits", testQueriesAndInputLimits},
	{"RealtimeProtocolFilterAndIsolation", testRealtimeProtocolFilterAndIsolation},
	{"RealtimeAuthMessageAndAccessMode", testRealtimeAuthMessageAndAccessMode},
	{"RealtimeResumeWithoutGapsOrDuplicates", testRealtimeResumeWithoutGapsOrDuplicates},
	{"RealtimeSlowConsumerIsCutOff", testRealtimeSlowConsumerIsCutOff},
	{"RLSTable", testRLSTable},
	{"SecurePublicReadColumnAndAuthenticatedMode", testSecurePublicReadColumnAndAuthenticatedMode},
	{"RealtimeRLSDelivery", testRealtimeRLSDelivery},
	{"RealtimeTokenExpiry", testRealtimeTokenExpiry},
	{"RealtimeTokenExpiresMidConnection", testRealtimeTokenExpiresMidConnection},
	{"HealthAndUnknownRoutes", testHealthAndUnknownRoutes},
	{"AdminAppsNeverShowSecrets", testAdminAppsNeverShowSecrets},
	{"AuditFiltersPagingAndIsolation", testAuditFiltersPagingAndIsolation},
	{"RestartKeepsDataAndReplayVerifies", testRestartKeepsDataAndReplayVerifies},
	{"SecondServeOnSameDataDirFails", testSecondServeOnSameDataDirFails},
	{"CorruptDataDirIsAClearError", testCorruptDataDirIsAClearError},
}

// mongoURI, when set, makes start use MongoDB with a fresh database.
var mongoURI string

func start(t *testing.T, cfg server.Config) *ebtest.Server {
	t.Helper()
	if mongoURI != "" && cfg.MongoURI == "" {
		cfg.MongoURI, cfg.MongoDB = mongoURI, mongotest.DBName("eb")
	}
	return ebtest.Start(t, cfg)
}

func TestMain(m *testing.M) {
	code := m.Run()
	mongotest.Stop()
	os.Exit(code)
}

func TestEmbedded(t *testing.T) {
	for _, bb := range blackBox {
		t.Run(bb.name, bb.fn)
	}
}

// Tests that are about the embedded store's data directory only.
var embeddedOnly = map[string]bool{"SecondServeOnSameDataDirFails": true, "CorruptDataDirIsAClearError": true}

func TestMongoDB(t *testing.T) {
	mongoURI = mongotest.URI(t)
	defer func() { mongoURI = "" }()
	for _, bb := range blackBox {
		if embeddedOnly[bb.name] {
			continue
		}
		t.Run(bb.name, bb.fn)
	}
}
