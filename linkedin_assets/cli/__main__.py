from linkedin_assets.cli import run

run()
