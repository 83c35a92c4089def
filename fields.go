//go:build unix

package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Field decodes the daemon's own field key (a key of Extra) into v, as
// json.Unmarshal does. ok is false, and v untouched, when the record has
// no such field. The error names the key.
func (r Record) Field(key string, v any) (ok bool, err error) {
	for _, f := range r.Extra {
		if f.Key == key {
			if err := json.Unmarshal(f.Value, v); err != nil {
				return true, fmt.Errorf("field %q: %w", key, err)
			}
			return true, nil
		}
	}
	return false, nil
}

// SetField sets the daemon's own field key to v, encoded as json.Marshal
// does (without escaping <, > and &): an existing field keeps its place,
// a new one comes last. The keys this library writes itself, in either
// record format (current_state, shadow_run, ...), are refused with
// ErrInvalidRecord, and so is a value json.Marshal refuses; r is then
// unchanged. Inside Machine.Update, the change is saved with the record.
func (r *Record) SetField(key string, v any) error {
	if isKnownKey(key) {
		return fmt.Errorf("%w: field %q is a key of the record itself, not a field of the daemon's own", ErrInvalidRecord, key)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("%w: field %q: %w", ErrInvalidRecord, key, err)
	}
	val := json.RawMessage(bytes.TrimRight(b.Bytes(), "\n"))
	if i := r.fieldIndex(key); i >= 0 {
		r.Extra = slices.Clone(r.Extra) // a shallow copy of a Record shares Extra
		r.Extra[i].Value = val
		return nil
	}
	r.Extra = append(slices.Clip(r.Extra), Field{Key: key, Value: val})
	return nil
}

// DeleteField removes the daemon's own field key, reporting whether the
// record had it.
func (r *Record) DeleteField(key string) bool {
	i := r.fieldIndex(key)
	if i < 0 {
		return false
	}
	r.Extra = slices.Delete(slices.Clone(r.Extra), i, i+1)
	return true
}

func (r *Record) fieldIndex(key string) int {
	return slices.IndexFunc(r.Extra, func(f Field) bool { return f.Key == key })
}
