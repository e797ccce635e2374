package main

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// The examples a user copies first are the ones that need no server: every `llmload run` and
// `llmload sweep` line with --sim in the commands' --help and in the README runs as written
// (only faster: --sim-speed is added) and exits 0.
func TestSimExamplesInHelpAndReadmeRun(t *testing.T) {
	var examples []string
	for _, c := range []string{"run", "sweep", "report", "sim", "gate"} {
		r := llmload(t, t.TempDir(), c, "--help")
		if r.code != 0 {
			t.Fatalf("%s --help: exit %d", c, r.code)
		}
		examples = append(examples, simCommandLines(r.stdout)...)
	}
	fromHelp := len(examples)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples = append(examples, simCommandLines(string(readme))...)
	// run --help, sweep --help, gate --help, and the README's run and sweep: at least five.
	if fromHelp < 3 || len(examples) < 5 {
		t.Fatalf("found %d --sim examples in --help and %d in the README, want ≥ 3 and ≥ 2: %q", fromHelp, len(examples)-fromHelp, examples)
	}
	seen := map[string]bool{}
	for _, ex := range examples {
		if seen[ex] {
			continue
		}
		seen[ex] = true
		args, err := shellWords(ex)
		if err != nil {
			t.Errorf("%s: %v", ex, err)
			continue
		}
		args = append(args[1:], "--sim-speed", "50", "--no-progress")
		r := llmload(t, t.TempDir(), args...)
		if r.code != 0 {
			t.Errorf("%s: exit %d\n%s", ex, r.code, r.stderr)
		} else {
			t.Logf("ok: %s", ex)
		}
	}
}

// simCommandLines returns the lines of text that are llmload run or sweep commands with --sim,
// without a trailing # comment.
func simCommandLines(text string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if (strings.HasPrefix(line, "llmload run ") || strings.HasPrefix(line, "llmload sweep ")) &&
			strings.Contains(line+" ", " --sim ") {
			out = append(out, line)
		}
	}
	return out
}

// shellWords splits a command line as a POSIX shell would for the quoting examples use:
// single and double quotes, no expansions.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\'', '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, errUnclosedQuote
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var errUnclosedQuote = errors.New("unclosed quote")
