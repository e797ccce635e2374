// Command llmload load-tests local LLM servers: Ollama's native API and OpenAI-compatible
// servers. See `llmload --help`.
package main

import (
	"fmt"
	"os"
)

func main() {
	err := newRootCmd(newStreams()).Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "llmload:", err)
	}
	os.Exit(exitCode(err))
}
