"""CI/CD: the stages behind `mlops ci`, routing, and the rendered Jenkinsfile / cloudbuild.yaml."""
