package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExported(t *testing.T) {
	tests := []struct {
		dir  string
		want []string
	}{
		{"testdata/fixture", []string{
			"const A", "const C",
			"func F",
			"method G.Get", "method I.Do", "method T.M", "method T.N",
			"type G", "type I", "type T",
			"var V",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := exported(tt.dir)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestExportedMissingDir(t *testing.T) {
	_, err := exported("testdata/none")
	require.Error(t, err)
}
