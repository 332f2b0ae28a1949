package engine

import (
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestOptionsBlankValue pins how an option map treats Business Central's
// empty code, which is blank text rather than null: the "" option first,
// then the default; with neither, null, since blank is a normal value.
func TestOptionsBlankValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flow    FieldFlow
		in      any
		want    any
		wantErr bool
	}{
		{"blank takes the blank option", FieldFlow{Options: map[string]any{"": int64(7), "NET30": int64(1)}}, "", int64(7), false},
		{"blank takes the default", FieldFlow{Options: map[string]any{"NET30": int64(1)}, Default: int64(9), HasDefault: true}, "", int64(9), false},
		{"the blank option before the default", FieldFlow{Options: map[string]any{"": int64(7)}, Default: int64(9), HasDefault: true}, "", int64(7), false},
		{"blank option mapped to null", FieldFlow{Options: map[string]any{"": nil}, Default: int64(9), HasDefault: true}, "", nil, false},
		{"blank without blank option or default is null", FieldFlow{Options: map[string]any{"NET30": int64(1)}}, "", nil, false},
		{"null stays null", FieldFlow{Options: map[string]any{"": int64(7)}, Default: int64(9), HasDefault: true}, nil, nil, false},
		{"listed value", FieldFlow{Options: map[string]any{"NET30": int64(1)}, Default: int64(9), HasDefault: true}, "NET30", int64(1), false},
		{"unlisted value takes the default", FieldFlow{Options: map[string]any{"NET30": int64(1)}, Default: int64(9), HasDefault: true}, "COD", int64(9), false},
		{"unlisted value without default fails", FieldFlow{Options: map[string]any{"NET30": int64(1)}}, "COD", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.flow
			f.Source, f.SourceRead = "code", "code"
			got, err := f.Value(connectors.Record{"code": tt.in}, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Value(%#v) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("Value(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}
