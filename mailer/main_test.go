package mailer

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("MAILDEBUG") != "" {
		testLog = os.Stderr
	}
	os.Exit(m.Run())
}
