// Command llmload load-tests local LLM servers: Ollama's native API and OpenAI-compatible
// servers. See `llmload --help`.
package main

import "os"

func main() {
	s := newStreams()
	os.Exit(exit(s, newRootCmd(newSystem(s), nil, nil).Execute()))
}
