//go:build deps

// Package deps pins the module's dependencies while the backends are being written.
package deps

import (
	_ "github.com/bradfitz/gomemcache/memcache"
	_ "github.com/gin-gonic/gin"
	_ "github.com/joho/godotenv"
	_ "github.com/redis/go-redis/v9"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
	_ "golang.org/x/crypto/bcrypt"
	_ "gorm.io/driver/mysql"
	_ "gorm.io/driver/postgres"
	_ "gorm.io/driver/sqlite"
	_ "gorm.io/gorm"
)
