.PHONY: run test
run:   ## Set up and run the console (web + worker + beat). Ctrl-C stops it.
	bash scripts/run.sh
test:  ## Set up and run every test (PostgreSQL, Redis, a real worker, Chromium).
	bash scripts/test.sh
