// Package all imports every connector for its registrations. The etl
// command imports it; tests of the engine import what they need.
package all

import (
	_ "github.com/etl-engine/etl/connectors/jsonrec"  // json.validate
	_ "github.com/etl-engine/etl/connectors/postgres" // postgres.upsert
	_ "github.com/etl-engine/etl/connectors/qbo"      // qbo.query
)
