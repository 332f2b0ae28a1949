package engine

import "github.com/couplerhq/coupler/engine/state"

// SetApplyBatch makes e's applies confirm every n operations instead of
// the size applyBatchSize picks (0 goes back to it), so that a test
// crosses batch boundaries with few records. It returns a function that
// restores e's previous size.
func SetApplyBatch(e *Engine, n int) (restore func()) {
	old := e.applyBatch
	e.applyBatch = n
	return func() { e.applyBatch = old }
}

// WrapState puts wrap(e's state) in its place, for an apply (a plan
// takes its DuckDB state for a separate workspace): a test watches or
// delays the state's calls with it. It returns a function that puts the
// state back.
func WrapState(e *Engine, wrap func(state.Store) state.Store) (restore func()) {
	old := e.store
	e.store = wrap(old)
	return func() { e.store = old }
}

// BenchMapping is a one-way mapping with 10 fields, the shape the speed
// targets are stated for.
const BenchMapping = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon }
direction: to_integration
sync_only_coupled: false
filter: blocked == " "
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name, to_integration: trim(value) }
  - { field: addressLine1, integration_field: address1_line1 }
  - { field: city, integration_field: address1_city }
  - { field: state, integration_field: address1_stateorprovince }
  - { field: postalCode, integration_field: address1_postalcode }
  - { field: country, integration_field: address1_country }
  - { field: phoneNumber, integration_field: telephone1 }
  - { field: email, integration_field: emailaddress1 }
  - { field: website, integration_field: websiteurl }
`
