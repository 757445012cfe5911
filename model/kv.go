package model

type kvCache struct{}
