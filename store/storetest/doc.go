// Package storetest is the contract every broker.Store implementation
// passes: what each operation does, the order batches and their done
// callbacks keep, and what Load returns after the store is closed and
// opened again. Each implementation runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) (broker.Store, func() broker.Store) { ... })
//	}
//
// It imports the broker and packet for the contract's types, go-cmp and
// the standard library. It must not import a Store implementation, so that it can only
// hold them to what broker.Store promises, and nothing but tests may
// import it.
package storetest
