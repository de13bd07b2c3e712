package jsonrec

import (
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/retry"
)

func TestValidate(t *testing.T) {
	good := `{"Id":"1","SyncToken":"0","MetaData":{"LastUpdatedTime":"2024-01-01T00:00:00-08:00"}}`
	tests := []struct {
		name    string
		payload string
		wantErr string
	}{
		{name: "complete record", payload: good},
		{name: "not JSON", payload: `{"Id":"1",`, wantErr: "is not valid JSON"},
		{name: "not an object", payload: `[1,2]`, wantErr: "is not a JSON object"},
		{name: "missing nested path", payload: `{"Id":"1","SyncToken":"0","MetaData":{}}`, wantErr: "has no MetaData.LastUpdatedTime"},
		{name: "missing top-level path", payload: `{"SyncToken":"0","MetaData":{"LastUpdatedTime":"x"}}`, wantErr: "has no Id"},
	}
	v := NewValidate([]string{"Id", "SyncToken", "MetaData.LastUpdatedTime"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &component.Page{Number: 3, Records: []component.Record{{ID: "0", Payload: []byte(good)}, {ID: "1", Payload: []byte(tt.payload)}}}
			err := v.Start(plan.Window{})(t.Context(), p)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "page 3 record 2") {
				t.Fatalf("err = %v, want %q at page 3 record 2", err, tt.wantErr)
			}
			if retry.ClassOf(err) != retry.Malformed {
				t.Fatalf("class = %s, want malformed (the window is retried)", retry.ClassOf(err))
			}
		})
	}
}
