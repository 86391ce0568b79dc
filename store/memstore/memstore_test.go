package memstore_test

import (
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/store/memstore"
	"github.com/petrelmq/petrel/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) (broker.Store, func() broker.Store) {
		s := memstore.New()
		return s, func() broker.Store {
			s.Reopen()
			return s
		}
	})
}
