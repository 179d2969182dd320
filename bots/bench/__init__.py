"""`rcmbot bench`: rcmbot's sweep side by side with hand-written Playwright baselines."""
