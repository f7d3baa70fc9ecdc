package mongo

import (
	"testing"

	"github.com/eventbase/eventbase/internal/mongotest"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

func TestProbe(t *testing.T) {
	t.Log(mongotest.URI(t))
}
