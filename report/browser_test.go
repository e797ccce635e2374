package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// chromium finds a headless-capable browser, or skips: the browser checks run only when
// asked (LLMLOAD_BROWSER_TEST=1) on a machine that has one (Debian: apt-get install chromium).
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("LLMLOAD_BROWSER_TEST") == "" {
		t.Skip("set LLMLOAD_BROWSER_TEST=1 to render reports in a browser")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	// Asked for and absent is a failure, not a skip: `make test` installs it, and a check
	// that silently does not run proves nothing.
	t.Fatal("LLMLOAD_BROWSER_TEST is set but no chromium is on PATH (apt-get install chromium)")
	return ""
}

func runBrowser(t *testing.T, browser string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, errOut.String())
	}
	return out.Bytes()
}

func renderHTML(t *testing.T, fixture string) string {
	t.Helper()
	paths, names := readFixtures(t, fixture)
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	// The page alone, in a folder of its own: its charts are inline, nothing beside it.
	page := filepath.Join(t.TempDir(), "report.html")
	var buf bytes.Buffer
	if err := Render(&buf, files, Options{Format: FormatHTML, Sources: names, SLO: mustSLO(t, "ttft_p95=100ms")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return page
}

// TestBrowserRendersReport opens an HTML report as a user would and checks that the
// screenshot shows text and the charts' colours, so the inline SVGs drew.
func TestBrowserRendersReport(t *testing.T) {
	browser := chromium(t)
	page := renderHTML(t, "sweep.json")
	shot := filepath.Join(t.TempDir(), "shot.png")
	runBrowser(t, browser, "--screenshot="+shot, "--window-size=1200,3000", "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dark, chartBlue, chartOrange := 0, 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl := rgb(img, x, y)
			switch {
			case r < 80 && g < 80 && bl < 80:
				dark++ // text
			case near(r, g, bl, 0x4e, 0x79, 0xa7):
				chartBlue++
			case near(r, g, bl, 0xf2, 0x8e, 0x2b):
				chartOrange++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	t.Logf("sampled %d pixels: %d dark, %d chart blue, %d chart orange", total, dark, chartBlue, chartOrange)
	if dark < total/200 {
		t.Errorf("only %d of %d sampled pixels are text-dark: a blank page?", dark, total)
	}
	if chartBlue < 50 || chartOrange < 50 {
		t.Errorf("chart colours barely present (blue %d, orange %d pixels): did the SVG charts load?", chartBlue, chartOrange)
	}
}

// TestBrowserHostileReportRunsNothing loads the hostile report and checks the DOM the
// browser built: no element came from a results file.
func TestBrowserHostileReportRunsNothing(t *testing.T) {
	browser := chromium(t)
	page := renderHTML(t, "hostile.json")
	dom := string(runBrowser(t, browser, "--dump-dom", "file://"+page))
	if !strings.Contains(dom, "</table>") {
		t.Fatalf("no table in the DOM: %.500s", dom)
	}
	for _, bad := range []string{"<script", `<img src="x"`, "onerror=\"", "<b>x</b>", "<td><script"} {
		if strings.Contains(dom, bad) {
			t.Errorf("the browser built %q from a results file", bad)
		}
	}
}

func rgb(img image.Image, x, y int) (r, g, b int) {
	cr, cg, cb, _ := img.At(x, y).RGBA()
	return int(cr >> 8), int(cg >> 8), int(cb >> 8)
}

func near(r, g, b, wr, wg, wb int) bool {
	d := func(a, b int) int {
		if a > b {
			return a - b
		}
		return b - a
	}
	return d(r, wr) < 24 && d(g, wg) < 24 && d(b, wb) < 24
}
