package main

import (
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func TestFormatEntry(t *testing.T) {
	ts := time.Date(2026, 11, 25, 22, 45, 32, 123456000, time.UTC)
	tests := []struct {
		name, event, raw, want string
	}{
		{
			name: "transition", event: "state_transition",
			raw:  `{"ts":"x","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`,
			want: "2026-11-25T22:45:32.123456Z  state_transition    from=WAKE to=DROWSY trigger=idle_5min seq=1\n",
		},
		{
			name: "no other fields", event: "tick", raw: `{"ts":"x","event":"tick"}`,
			want: "2026-11-25T22:45:32.123456Z  tick\n",
		},
		{
			name: "event longer than the column", event: "a_very_long_event_kind_indeed", raw: `{"ts":"x","event":"a_very_long_event_kind_indeed","k":1}`,
			want: "2026-11-25T22:45:32.123456Z  a_very_long_event_kind_indeed  k=1\n",
		},
		{
			name: "field order kept, ts and event anywhere dropped", event: "e",
			raw:  `{"z":1,"ts":"x","a":2,"event":"e","m":3}`,
			want: "2026-11-25T22:45:32.123456Z  e                   z=1 a=2 m=3\n",
		},
		{
			name: "values", event: "e",
			raw:  `{"ts":"x","event":"e","s":"two words","q":"say \"hi\"","eq":"a=b","empty":"","n":-1.5e3,"b":false,"null":null,"obj":{"a": [1, 2]},"u":"é"}`,
			want: "2026-11-25T22:45:32.123456Z  e                   s=\"two words\" q=\"say \\\"hi\\\"\" eq=\"a=b\" empty=\"\" n=-1.5e3 b=false null=null obj={\"a\":[1,2]} u=é\n",
		},
		{
			name: "control characters are escaped", event: "e\x1b[31m",
			raw:  `{"ts":"x","event":"e\u001b[31m","k\u0007":"v\u001b[0m"}`,
			want: "2026-11-25T22:45:32.123456Z  \"e\\x1b[31m\"         \"k\\a\"=\"v\\x1b[0m\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatEntry(lifecycle.LogEntry{Time: ts, Event: tt.event, Raw: []byte(tt.raw)})
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFormatEntryTimeIsUTC(t *testing.T) {
	ts := time.Date(2026, 11, 25, 23, 0, 0, 0, time.FixedZone("CET", 3600))
	got := formatEntry(lifecycle.LogEntry{Time: ts, Event: "e", Raw: []byte(`{"event":"e"}`)})
	require.Equal(t, "2026-11-25T22:00:00.000000Z  e\n", got)
}
