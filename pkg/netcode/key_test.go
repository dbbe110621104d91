package netcode

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// testKey has bytes 161..192: distinctive in decimal, hex and base64.
var testKey = func() PrivateKey {
	var k PrivateKey
	for i := range k {
		k[i] = byte(161 + i)
	}
	return k
}()

func decimalList(k PrivateKey, sep string) string {
	parts := make([]string, len(k))
	for i, b := range k {
		parts[i] = strconv.Itoa(int(b))
	}
	return strings.Join(parts, sep)
}

func TestParsePrivateKey(t *testing.T) {
	seq := PrivateKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	dec := decimalList(testKey, ",")
	hx := hex.EncodeToString(testKey[:])
	b64 := base64.StdEncoding.EncodeToString(testKey[:])
	good := []struct {
		name, in string
		want     PrivateKey
	}{
		{"decimal", dec, testKey},
		{"decimal spaces", decimalList(testKey, ", "), testKey},
		{"decimal rust example", "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1", seq},
		{"decimal single quotes", "'" + decimalList(testKey, ", ") + "'", testKey},
		{"decimal double quotes", `"` + dec + `"`, testKey},
		{"decimal brackets", "[" + decimalList(testKey, ", ") + "]", testKey},
		{"decimal quoted brackets", "'[" + dec + "]'", testKey},
		{"decimal newlines and tabs", "\n " + decimalList(testKey, ",\n\t") + " \n", testKey},
		{"decimal leading zeros", strings.Repeat("000,", 31) + "007", PrivateKey{31: 7}},
		{"decimal max", strings.Repeat("255,", 31) + "255", func() (k PrivateKey) {
			for i := range k {
				k[i] = 255
			}
			return
		}()},
		{"hex lower", hx, testKey},
		{"hex upper", strings.ToUpper(hx), testKey},
		{"hex quoted", "'" + hx + "'\n", testKey},
		{"base64", b64, testKey},
		{"base64 quoted", `"` + b64 + `"`, testKey},
		{"zero key", strings.Repeat("0,", 31) + "0", PrivateKey{}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePrivateKey(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got fingerprint %s, want %s", got.Fingerprint(), c.want.Fingerprint())
			}
		})
	}

	bad := []struct {
		name, in, want string
	}{
		{"empty", "", "private key: empty"},
		{"blank quoted", "'  '", "private key: empty"},
		{"31 numbers", decimalList(testKey, ",")[4:], "private key: got 31 numbers, want 32"},
		{"33 numbers", dec + ",1", "private key: got 33 numbers, want 32"},
		{"trailing comma", dec + ",", "private key: got 33 numbers, want 32"},
		{"empty number", strings.Replace(dec, ",", ",,", 1)[:len(dec)], "private key: got 33 numbers, want 32"},
		{"blank number", "1, ," + strings.Repeat("1,", 29) + "1", "private key: number 2 is empty"},
		{"over 255", strings.Repeat("1,", 6) + "300," + strings.Repeat("1,", 24) + "1", "private key: number 7 is over 255"},
		{"huge number", strings.Repeat("1,", 31) + "99999999999999999999999", "private key: number 32 is over 255"},
		{"negative", "-1," + strings.Repeat("1,", 30) + "1", "private key: number 1 is not a decimal number"},
		{"hex in list", "0x10," + strings.Repeat("1,", 30) + "1", "private key: number 1 is not a decimal number"},
		{"space separated inside", "1 2," + strings.Repeat("1,", 30) + "1", "private key: number 1 is not a decimal number"},
		{"hex bad digit", hx[:20] + "g" + hx[21:], "private key: 64 characters but not hex: character 21 is not a hex digit"},
		{"hex short", hx[:62], "private key: unrecognised format (62 characters and no commas): want 32 comma-separated numbers, 64 hex digits or 44 base64 characters"},
		{"base64 bad char", "!" + b64[1:], "private key: 44 characters but not standard base64: bad character or padding at 1"},
		{"base64 no padding 33 bytes", base64.StdEncoding.EncodeToString(append(testKey[:], 1))[:44], "private key: base64 decodes to 33 bytes, want 32"},
		{"unbalanced quote", "'" + hx, "private key: unrecognised format (65 characters and no commas): want 32 comma-separated numbers, 64 hex digits or 44 base64 characters"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePrivateKey(c.in)
			if err == nil {
				t.Fatalf("no error, got key %s", k.Fingerprint())
			}
			if err.Error() != c.want {
				t.Fatalf("error %q, want %q", err, c.want)
			}
			if !k.IsZero() {
				t.Fatal("a failed parse returned a non-zero key")
			}
		})
	}
}

func TestPrivateKeyUnmarshalText(t *testing.T) {
	var k PrivateKey
	if err := k.UnmarshalText([]byte(decimalList(testKey, ", "))); err != nil {
		t.Fatal(err)
	}
	if k != testKey {
		t.Fatal("wrong key")
	}
	var cfg struct {
		Key PrivateKey `json:"key"`
	}
	if err := json.Unmarshal([]byte(`{"key":"`+hex.EncodeToString(testKey[:])+`"}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Key != testKey {
		t.Fatal("wrong key from JSON")
	}
	// The redacted text form does not parse back.
	text, _ := testKey.MarshalText()
	if err := k.UnmarshalText(text); err == nil {
		t.Fatal("the redacted form parsed as a key")
	}
}

func TestPrivateKeyIsZeroAndFingerprint(t *testing.T) {
	if !(PrivateKey{}).IsZero() || testKey.IsZero() || (PrivateKey{31: 1}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
	// SHA-256 of 32 zero bytes starts 66687aad.
	if got := (PrivateKey{}).Fingerprint(); got != "66687aad" {
		t.Fatalf("zero key fingerprint %s", got)
	}
	if got, want := testKey.String(), "PrivateKey(redacted, fingerprint "+testKey.Fingerprint()+")"; got != want {
		t.Fatalf("String %q, want %q", got, want)
	}
}

// keyForms returns substrings that would reveal the key: every window of 4
// bytes in decimal (several separators), hex (both cases) and base64, and
// the full key in the forms ParsePrivateKey accepts.
func keyForms(k PrivateKey) []string {
	var forms []string
	for i := 0; i+4 <= len(k); i++ {
		w := k[i : i+4]
		var dec []string
		for _, b := range w {
			dec = append(dec, strconv.Itoa(int(b)))
		}
		for _, sep := range []string{",", ", ", " "} {
			forms = append(forms, strings.Join(dec, sep))
		}
		for _, f := range []string{"%x", "% x", "%#x", "%#v"} {
			hx := fmt.Sprintf(f, w)
			hx = strings.TrimSuffix(strings.TrimPrefix(hx, "[]byte{"), "}")
			forms = append(forms, hx, strings.ToUpper(hx))
		}
		quoted := strconv.Quote(string(w))
		forms = append(forms, quoted[1:len(quoted)-1], string(w))
	}
	b64 := base64.StdEncoding.EncodeToString(k[:])
	for i := 0; i+8 <= len(b64)-4; i++ { // the last group holds padding
		forms = append(forms, b64[i:i+8])
	}
	return forms
}

// revealed returns the first key form found in out.
func revealed(out string) (string, bool) {
	for _, f := range keyForms(testKey) {
		if strings.Contains(out, f) {
			return f, true
		}
	}
	return "", false
}

func assertNoKey(t *testing.T, what, out string) {
	t.Helper()
	if f, ok := revealed(out); ok {
		t.Fatalf("%s reveals key material %q: %s", what, f, out)
	}
}

// TestRevealedDetector makes sure the leak detector is not vacuous.
func TestRevealedDetector(t *testing.T) {
	raw := [KeySize]byte(testKey)
	for _, out := range []string{
		fmt.Sprint(raw), fmt.Sprintf("%x", raw), fmt.Sprintf("%#v", raw), fmt.Sprintf("% X", raw), fmt.Sprintf("%q", raw[:]),
		decimalList(testKey, ","), decimalList(testKey, ", "),
		base64.StdEncoding.EncodeToString(raw[:]), string(raw[:]),
		"... " + decimalList(testKey, ",")[40:60] + " ...",
	} {
		if _, ok := revealed(out); !ok {
			t.Errorf("detector misses %q", out)
		}
	}
}

func TestPrivateKeyNeverRevealed(t *testing.T) {
	k := testKey
	type holder struct {
		Key  PrivateKey
		Ptr  *PrivateKey
		Keys []PrivateKey
	}
	h := holder{Key: k, Ptr: &k, Keys: []PrivateKey{k}}
	m := map[string]PrivateKey{"k": k}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%b", "%o", "%08x", "% x", "%T %v", "%10.3s"}
	for _, v := range verbs {
		for name, arg := range map[string]any{"key": k, "pointer": &k, "struct": h, "struct pointer": &h, "map": m, "slice": []PrivateKey{k}} {
			out := fmt.Sprintf(v, arg)
			if v == "%T %v" {
				out = fmt.Sprintf(v, arg, arg)
			}
			assertNoKey(t, fmt.Sprintf("fmt %s of %s", v, name), out)
		}
	}
	assertNoKey(t, "Sprint", fmt.Sprint(k, &k, h))
	assertNoKey(t, "Sprintln", fmt.Sprintln(k, &k, h))
	assertNoKey(t, "GoString", k.GoString())
	assertNoKey(t, "String", k.String())
	if !strings.Contains(fmt.Sprintf("%v", k), k.Fingerprint()) {
		t.Fatal("fmt verb v does not show the fingerprint")
	}

	for name, arg := range map[string]any{"key": k, "pointer": &k, "struct": h, "map": m} {
		b, err := json.Marshal(arg)
		if err != nil {
			t.Fatal(err)
		}
		assertNoKey(t, "JSON of "+name, string(b))
		if !json.Valid(b) {
			t.Fatalf("JSON of %s is invalid: %s", name, b)
		}
	}
	text, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	assertNoKey(t, "MarshalText", string(text))

	var buf bytes.Buffer
	for _, handler := range []slog.Handler{
		slog.NewTextHandler(&buf, nil),
		slog.NewJSONHandler(&buf, nil),
	} {
		log := slog.New(handler)
		log.Info("minting", "key", k, "key_ptr", &k, "holder", h, slog.Any("any", k))
		log.Info("group", slog.Group("cfg", "key", k))
	}
	assertNoKey(t, "slog output", buf.String())
	if !strings.Contains(buf.String(), k.Fingerprint()) {
		t.Fatal("slog output lacks the fingerprint")
	}
}

// TestParsePrivateKeyErrorsNeverReveal damages the key in each of its forms
// in many ways and checks that no error message carries key material.
func TestParsePrivateKeyErrorsNeverReveal(t *testing.T) {
	forms := []string{
		decimalList(testKey, ","),
		decimalList(testKey, ", "),
		"[" + decimalList(testKey, ", ") + "]",
		hex.EncodeToString(testKey[:]),
		strings.ToUpper(hex.EncodeToString(testKey[:])),
		base64.StdEncoding.EncodeToString(testKey[:]),
	}
	n := 0
	for _, f := range forms {
		var inputs []string
		for i := range len(f) {
			inputs = append(inputs,
				f[:i]+f[i+1:],        // drop a character
				f[:i]+"x"+f[i+1:],    // replace one
				f[:i]+"9"+f[i:],      // insert a digit
				f[:i]+","+f[i:],      // insert a comma
				f[:i]+"=",            // truncate with padding
				f[:i]+"\x00"+f[i+1:], // control character
			)
		}
		inputs = append(inputs, f+",", f+f, f+"1")
		for _, in := range inputs {
			k, err := ParsePrivateKey(in)
			if err != nil {
				n++
				assertNoKey(t, fmt.Sprintf("error for input %q", in), err.Error())
				if !k.IsZero() {
					t.Fatal("a failed parse returned a non-zero key")
				}
			}
		}
	}
	if n < 500 {
		t.Fatalf("only %d inputs failed; the test damages keys too little", n)
	}
}
