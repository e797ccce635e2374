// Command tinyllama writes a small random-weight Llama model as a Hugging Face folder for
// `ollama create NAME -f DIR/Modelfile`; its greedy output never loops (see cmd/internal/tinyllama).
//
//	go run ./cmd/tinyllama -out DIR -preset small|heavy|ref -seed N
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/llmload/llmload/cmd/internal/tinyllama"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "tinyllama:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "tinyllama:", err)
		os.Exit(1)
	}
}

// usageError is a command-line mistake (exit status 2, as the flag package uses).
type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tinyllama", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output folder (required)")
	preset := fs.String("preset", "small", "model size: "+strings.Join(tinyllama.PresetNames(), ", "))
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same bytes")
	dtype := fs.String("dtype", "f16", "weight type: f16 or f32")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{errors.New("usage: tinyllama -out DIR [-preset NAME] [-seed N] [-dtype f16|f32]")}
	}
	shape, err := tinyllama.Preset(*preset)
	if err != nil {
		return usageError{err}
	}
	m, err := tinyllama.New(shape, *seed, tinyllama.DType(strings.ToUpper(*dtype)))
	if err != nil {
		return usageError{err}
	}
	if err := m.WriteDir(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: preset %s, seed %d, %s, %.2fM params, cycle of %d tokens\n",
		*out, *preset, *seed, m.DType, float64(shape.Params())/1e6, len(m.Cycle()))
	fmt.Fprintf(stdout, "load it: ollama create NAME -f %s/%s\n", *out, tinyllama.ModelfileFile)
	return nil
}
