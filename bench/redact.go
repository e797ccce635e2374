package bench

import (
	"encoding/json"
	"reflect"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// redacted is a run as it may be written or shown. When the target has secrets (see
// api.Redactor: header values, the URL's password and its Basic token) it is a copy of the run
// with each of them removed from every string and map key: whatever a server said (its
// version, the names /api/ps gives, error texts, gauge names) may echo them, and so may the
// plan. One pass here keeps every field, present and future, from carrying them into a
// results file, a summary or a report. Histograms are left as they are: they are encoded
// numbers, in which a short secret could occur by chance. A run that does not encode is
// returned as it is: writing it fails and says why.
func redacted(run *results.Run, r *api.Redactor) *results.Run {
	if r.Empty() || run == nil {
		return run
	}
	b, err := json.Marshal(run)
	if err != nil {
		return run
	}
	out := new(results.Run) // a copy: the run shares its plan with the workload
	if err := json.Unmarshal(b, out); err != nil {
		return run
	}
	redactValue(reflect.ValueOf(out).Elem(), r.Redact)
	return out
}

// redactValue applies redact to every string reachable from v, map keys included, but for the
// fields named Histograms.
func redactValue(v reflect.Value, redact func(string) string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(redact(v.String()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			redactValue(v.Elem(), redact)
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		// What an interface holds cannot be set in place: a copy is walked and put back.
		e := reflect.New(v.Elem().Type()).Elem()
		e.Set(v.Elem())
		redactValue(e, redact)
		v.Set(e)
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if f := t.Field(i); f.IsExported() && f.Name != "Histograms" {
				redactValue(v.Field(i), redact)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			redactValue(v.Index(i), redact)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			redactValue(e, redact)
			nk := k
			if k.Kind() == reflect.String {
				nk = reflect.New(k.Type()).Elem()
				nk.SetString(redact(k.String()))
				if nk.String() != k.String() {
					v.SetMapIndex(k, reflect.Value{})
				}
			}
			v.SetMapIndex(nk, e)
		}
	}
}
