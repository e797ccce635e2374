package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

func FuzzMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "ok", "a\"b\\c", "<&>", "\t\n\r\b\f\x00\x1f\x7f", "é 日本", "\u2028\u2029", "\xff\xfe"} {
		f.Add(s, 1.5)
	}
	for _, x := range []float64{0, math.Copysign(0, -1), 0.001, 0.0005, 1e-7, 123456.789, 1e21, 999999999.999, -12.34, 5e-324} {
		f.Add("", x)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("string %q: %s, encoding/json %s", s, got, want)
		}
		for _, v := range []float64{x, math.Round(x*1000) / 1000} {
			want, err := json.Marshal(v)
			got, ok := AppendFloat(nil, v)
			if ok != (err == nil) || ok && !bytes.Equal(got, want) {
				t.Fatalf("float %v: %s (%v), encoding/json %s (%v)", v, got, ok, want, err)
			}
		}
	})
}
